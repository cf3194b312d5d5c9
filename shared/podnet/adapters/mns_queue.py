"""``Queue`` on Alibaba Cloud MNS through aliyun-mns-sdk (import name ``mns``, imported on first use).

- Bodies are raw text (``queue.set_encoding(False)``): our messages are small JSON documents, and
  raw text keeps them readable in the console and in the EventBridge MNS source.
- ``send`` goes in batches of at most 16 (the service limit); items of a batch that failed are
  resent once, then ``RetryableError``.
- An empty receive (``MessageNotExist``) is ``[]``.
- Deleting with a stale receipt handle (``ReceiptHandleError``/``MessageNotExist``: the visibility
  timeout ran out, or the message was received again or already deleted) counts as done and is
  logged: the message will simply be delivered again, which at-least-once handlers accept.
- Throttling (``TooManyRequests``, ``ServiceUnavailable``, 5xx) and network errors are retried a
  couple of times, then raised as ``RetryableError``; ``QueueNotExist`` and bad parameters are
  ``PermanentError`` (a deployment problem, not a transient one).
- The SDK keeps one ``http.client`` connection per ``Account`` and is not thread-safe, so each
  thread gets its own Account.
- Credentials: a static pair/triple (``set_credentials`` for rotated ones, e.g. FC's per-invocation
  STS triple), or a ``credentials_provider`` (``podnet.adapters.cloud.default_credentials_provider()``
  in long-running processes) asked before every SDK call; when its triple changed, every thread
  reconnects with the new one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from podnet.adapters.retry import RetriesExhausted, RetryPolicy
from podnet.errors import PermanentError, RetryableError
from podnet.log import fields, get_logger
from podnet.ports import QueueMessage

if TYPE_CHECKING:
    from podnet.adapters.cloud import CredentialsProvider

__all__ = ["MnsQueue", "MAX_BATCH"]

T = TypeVar("T")
MAX_BATCH = 16
MAX_WAIT_S = 30
RETRY_CODES = frozenset({"TooManyRequests", "ServiceUnavailable", "InternalError", "Throttling", "NetWorkException"})
STALE_HANDLE_CODES = frozenset({"ReceiptHandleError", "MessageNotExist"})
PERMANENT_CODES = frozenset({"QueueNotExist", "InvalidArgument", "AccessDenied", "MalformedXML", "InvalidQueueName"})
DEFAULT_MNS_RETRY = RetryPolicy(attempts=3, base_s=0.1, factor=2.0, max_delay_s=0.5, budget_s=1.0, requeue_delay_s=2.0)

log = get_logger("mns")


def _code(exc: BaseException) -> str:
    return str(getattr(exc, "type", "") or type(exc).__name__)


class MnsQueue:
    """One MNS queue."""

    def __init__(
        self,
        endpoint: str,
        queue_name: str,
        *,
        access_key_id: str = "",
        access_key_secret: str = "",
        security_token: str | None = None,
        timeout_s: float = 35.0,
        retry: RetryPolicy | None = None,
        credentials_provider: CredentialsProvider | None = None,
    ) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise PermanentError(f"MNS endpoint must start with http:// or https://: {endpoint!r}", code="ConfigError")
        if credentials_provider is None and not (access_key_id and access_key_secret):
            raise PermanentError("MnsQueue needs an AccessKey pair or a credentials_provider", code="ConfigError")
        self.endpoint = endpoint.rstrip("/")
        self.name = queue_name
        self.timeout_s = timeout_s
        self.retry = retry or DEFAULT_MNS_RETRY
        self._creds = (access_key_id, access_key_secret, security_token or "")
        self._credentials_provider = credentials_provider
        self._local = threading.local()
        self._generation = 0
        self._creds_lock = threading.Lock()  # (creds, generation) change together

    @classmethod
    def from_env(
        cls,
        queue_name: str,
        env: Mapping[str, str] | None = None,
        *,
        credentials_provider: CredentialsProvider | None = None,
        **kw: Any,
    ) -> MnsQueue:
        """``PODNET_MNS_ENDPOINT`` and the ``ALIBABA_CLOUD_*`` credentials (or ``credentials_provider``)."""
        e = os.environ if env is None else env
        endpoint = e.get("PODNET_MNS_ENDPOINT") or e.get("MNS_ENDPOINT") or ""
        if credentials_provider is not None:
            if not endpoint:
                raise PermanentError("PODNET_MNS_ENDPOINT must be set", code="ConfigError")
            return cls(endpoint, queue_name, credentials_provider=credentials_provider, **kw)
        ak, sk = e.get("ALIBABA_CLOUD_ACCESS_KEY_ID", ""), e.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
        if not endpoint or not ak or not sk:
            raise PermanentError(
                "PODNET_MNS_ENDPOINT and ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET must be set", code="ConfigError"
            )
        return cls(
            endpoint,
            queue_name,
            access_key_id=ak,
            access_key_secret=sk,
            security_token=e.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None,
            **kw,
        )

    def set_credentials(self, access_key_id: str, access_key_secret: str, security_token: str | None = None) -> None:
        """Use rotated (STS) credentials from the next call on (every thread reconnects)."""
        creds = (access_key_id, access_key_secret, security_token or "")
        with self._creds_lock:
            if creds != self._creds:
                self._creds = creds
                self._generation += 1

    def refresh_credentials(self) -> None:
        """Ask the ``credentials_provider`` (if any) and switch to its triple when it changed."""
        provider = self._credentials_provider
        if provider is not None:
            c = provider()
            self.set_credentials(c.access_key_id, c.access_key_secret, c.security_token)

    # --- SDK plumbing --------------------------------------------------------------------------
    def _queue(self) -> Any:
        # called for every SDK call (retries included), so each one signs with the current triple
        self.refresh_credentials()
        local = self._local
        with self._creds_lock:
            creds, generation = self._creds, self._generation
        if getattr(local, "generation", -1) != generation:
            from mns.account import Account  # ~80 ms, paid on first use only

            account = Account(self.endpoint, *creds)
            account.mns_client.set_connection_timeout(int(self.timeout_s))
            q = account.get_queue(self.name)
            q.set_encoding(False)  # raw text bodies, no base64
            local.queue, local.generation = q, generation
        return local.queue

    def _run(self, what: str, fn: Callable[[], T], *, passthrough: frozenset[str] = frozenset()) -> T:
        """Call the SDK with the retry policy; map its errors to the port's (codes in ``passthrough``
        and partial batch failures are re-raised as they are, for the caller to decide)."""
        from mns.mns_exception import MNSClientParameterException, MNSExceptionBase

        def classify(exc: BaseException) -> float | None:
            if isinstance(exc, MNSExceptionBase) and not getattr(exc, "sub_errors", None) and _code(exc) in RETRY_CODES:
                return 0.0
            return None

        try:
            return self.retry.run(fn, classify)
        except RetriesExhausted as ex:
            code = _code(ex.last)
            raise RetryableError(f"MNS {what} on {self.name}: {ex.last}", delay_s=ex.delay_s, code=code) from ex.last
        except MNSExceptionBase as e:
            code = _code(e)
            if code in passthrough or getattr(e, "sub_errors", None):
                raise
            if isinstance(e, MNSClientParameterException) or code in PERMANENT_CODES:
                raise PermanentError(f"MNS {what} on {self.name}: {code}: {e.message}", code=code) from e
            raise RetryableError(f"MNS {what} on {self.name}: {code}: {e.message}", delay_s=2.0, code=code) from e

    # --- Queue ---------------------------------------------------------------------------------
    def send(self, bodies: list[str], delay_s: int = 0) -> None:
        """Send (in batches of at most 16); a message becomes visible after ``delay_s`` seconds."""
        from mns.mns_exception import MNSExceptionBase
        from mns.queue import Message

        for i in range(0, len(bodies), MAX_BATCH):
            chunk = bodies[i : i + MAX_BATCH]
            for attempt in range(2):
                msgs = [Message(b, delay_seconds=int(delay_s)) for b in chunk]
                try:
                    if len(msgs) == 1:
                        self._run("SendMessage", lambda m=msgs[0]: self._queue().send_message(m))
                    else:
                        self._run("BatchSendMessage", lambda ms=msgs: self._queue().batch_send_message(ms))
                    break
                except MNSExceptionBase as e:  # only a partial batch failure gets here
                    subs = getattr(e, "sub_errors", None) or []
                    failed = [b for b, s in zip(chunk, subs, strict=False) if isinstance(s, dict) and s.get("ErrorCode")]
                    if attempt == 1 or not failed or len(subs) != len(chunk):
                        raise RetryableError(
                            f"MNS send on {self.name}: {len(failed)} of {len(chunk)} messages failed: {_code(e)}",
                            code=_code(e),
                        ) from e
                    log.warning(
                        "resending %d of %d messages after %s",
                        len(failed),
                        len(chunk),
                        _code(e),
                        extra=fields(queue=self.name),
                    )
                    chunk = failed

    def receive(self, max_messages: int = 16, wait_s: int = 0) -> list[QueueMessage]:
        """Up to ``max_messages`` (≤16) visible messages, long-polling up to ``wait_s`` (≤30) seconds."""
        from mns.mns_exception import MNSExceptionBase

        n = max(1, min(MAX_BATCH, int(max_messages)))
        wait = max(0, min(MAX_WAIT_S, int(wait_s)))
        try:
            msgs = self._run(
                "BatchReceiveMessage",
                lambda: self._queue().batch_receive_message(n, wait_seconds=wait),
                passthrough=frozenset({"MessageNotExist"}),
            )
        except MNSExceptionBase:  # MessageNotExist: nothing to receive
            return []
        return [
            QueueMessage(
                body=m.message_body if isinstance(m.message_body, str) else m.message_body.decode("utf-8"),
                receipt_handle=m.receipt_handle,
                dequeue_count=int(m.dequeue_count or 1),
                message_id=m.message_id or "",
            )
            for m in msgs
        ]

    def delete(self, receipt_handle: str) -> None:
        """Delete a received message; a stale handle counts as done (the message may come again)."""
        from mns.mns_exception import MNSExceptionBase

        try:
            self._run(
                "DeleteMessage", lambda: self._queue().delete_message(receipt_handle), passthrough=STALE_HANDLE_CODES
            )
        except MNSExceptionBase as e:
            log.info(
                "delete with a stale receipt handle (%s): the message may be delivered again",
                _code(e),
                extra=fields(queue=self.name),
            )

    def change_visibility(self, receipt_handle: str, seconds: int) -> str:
        """Hide the message for ``seconds`` (1..43200); returns the new receipt handle.

        A stale handle raises ``PermanentError(code="ReceiptHandleError"|"MessageNotExist")``: the
        caller no longer owns the message (it was deleted, or is being handled elsewhere)."""
        from mns.mns_exception import MNSExceptionBase

        secs = max(1, min(43200, int(seconds)))
        try:
            m = self._run(
                "ChangeMessageVisibility",
                lambda: self._queue().change_message_visibility(receipt_handle, secs),
                passthrough=STALE_HANDLE_CODES,
            )
        except MNSExceptionBase as e:
            code = _code(e)
            raise PermanentError(f"MNS change visibility on {self.name}: {code}: {e.message}", code=code) from e
        return str(m.receipt_handle)
