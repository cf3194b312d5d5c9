"""Errors of the fake MNS, one class per MNS error code (codes and statuses from the MNS error table).

The backend raises them for state problems (no such queue, stale receipt handle); the wire layer
raises them for shape problems (bad XML, bad query); both end up as the MNS ``<Error>`` XML.
"""

from __future__ import annotations


class MNSError(Exception):
    """An error the service answers with: ``code`` and ``status`` are the vendor's own."""

    code = "InternalError"
    status = 500
    default_message = "Internal error."

    def __init__(
        self, message: str | None = None, *, code: str | None = None, status: int | None = None
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        super().__init__(f"{self.code} ({self.status}): {self.message}")


class QueueNotExist(MNSError):
    code, status, default_message = "QueueNotExist", 404, "The queue name you provided is not exist."


class QueueAlreadyExist(MNSError):
    code, status, default_message = "QueueAlreadyExist", 409, "The queue you want to create is already exist."


class InvalidQueueName(MNSError):
    code, status = "InvalidQueueName", 400
    default_message = "The queue name you provided is not valid."


class QueueNameLengthError(MNSError):
    code, status = "QueueNameLengthError", 400
    default_message = "The length of queue name should be between 1 and 120."


class MessageNotExist(MNSError):
    code, status, default_message = "MessageNotExist", 404, "Message not exist."


class ReceiptHandleError(MNSError):
    code, status, default_message = "ReceiptHandleError", 400, "The receipt handle you provide is not valid."


class InvalidArgument(MNSError):
    code, status, default_message = "InvalidArgument", 400, "The argument you provided is not valid."


class MalformedXML(MNSError):
    code, status, default_message = "MalformedXML", 400, "The XML you provided was not well-formed."


class InvalidRequestURL(MNSError):
    code, status, default_message = "InvalidRequestURL", 400, "Http request URL format invalid."


class InvalidQueryString(MNSError):
    code, status = "InvalidQueryString", 400
    default_message = "Http request URL contains invalid querystring item."


class MissingReceiptHandle(MNSError):
    code, status, default_message = "MissingReceiptHandle", 400, "ReceiptHandle is required."


class MissingVisibilityTimeout(MNSError):
    code, status, default_message = "MissingVisibilityTimeout", 400, "VisibilityTimeout is required."


class MissingAuthorizationHeader(MNSError):
    code, status, default_message = "MissingAuthorizationHeader", 400, "Authorization header is required."


class InvalidAuthorizationHeader(MNSError):
    code, status, default_message = (
        "InvalidAuthorizationHeader",
        400,
        "The Authorization header format is invalid.",
    )


class InvalidAccessKeyId(MNSError):
    code, status, default_message = "InvalidAccessKeyId", 403, "The AccessKey Id you provided is not exist."


class SignatureDoesNotMatch(MNSError):
    code, status = "SignatureDoesNotMatch", 403
    default_message = "The request signature we calculated does not match the signature you provided."


class InvalidDegist(MNSError):
    # sic: the service spells the code this way
    code, status, default_message = "InvalidDegist", 400, "The Content-MD5 you specified is invalid."


class TooManyRequests(MNSError):
    # the throttling answer documented in the MNS "throttling policy" page
    code, status = "TooManyRequests", 429
    default_message = "The request is denied by cluster flow limiter for too many requests."


class ServiceUnavailable(MNSError):
    code, status, default_message = (
        "ServiceUnavailable",
        503,
        "Service is unavailable, please try again later.",
    )


class BatchDeleteFailed(MNSError):
    """Some receipt handles of a BatchDeleteMessage failed; ``errors`` has one entry per failed handle."""

    code, status = "MessageNotExist", 404

    def __init__(self, errors: list[tuple[str, str, str]]) -> None:
        self.errors = errors  # (receipt handle, error code, error message)
        first = errors[0] if errors else ("", "MessageNotExist", "Message not exist.")
        super().__init__(first[2], code=first[1])


class ResponseLost(Exception):
    """In-process stand-in for a dropped connection: the side effect happened, the answer was lost."""
