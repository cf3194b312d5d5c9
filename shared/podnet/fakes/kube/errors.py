"""API errors of the fake kube-apiserver, each able to render the server's ``Status`` object.

They subclass the project's ``podnet.errors`` kube errors so in-process callers of the backend can
catch ``NotFound``/``Conflict``/``Gone`` exactly as they would from the real adapter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from podnet.errors import Conflict, Gone, KubeError, NotFound

if TYPE_CHECKING:
    from podnet.fakes.kube.resources import ResourceType


class ApiError(KubeError):
    """An error answer: HTTP code, Status reason, message and optional details."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code, reason, message)
        self.code = code
        self.details = details
        self.headers = dict(headers or {})

    def to_status(self) -> dict[str, Any]:
        """The ``Status`` object the API server sends for this error (same key order)."""
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            out["details"] = self.details
        out["code"] = self.code
        return out


class NotFoundError(ApiError, NotFound):
    """404 NotFound."""


class ConflictError(ApiError, Conflict):
    """409 AlreadyExists or Conflict."""


class ExpiredError(ApiError, Gone):
    """410 Expired (resourceVersion or continue token older than the history)."""


def _details(rt: ResourceType, name: str, kind: str | None = None) -> dict[str, Any]:
    # The server names the resource (plural) in details.kind for most errors, the Kind for Invalid.
    d: dict[str, Any] = {"name": name}
    if rt.group:
        d["group"] = rt.group
    d["kind"] = kind or rt.plural
    return d


def not_found(rt: ResourceType, name: str) -> NotFoundError:
    return NotFoundError(404, "NotFound", f'{rt.qualified} "{name}" not found', _details(rt, name))


def already_exists(rt: ResourceType, name: str) -> ConflictError:
    return ConflictError(409, "AlreadyExists", f'{rt.qualified} "{name}" already exists', _details(rt, name))


def conflict(rt: ResourceType, name: str, why: str | None = None) -> ConflictError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ConflictError(
        409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified} "{name}": {why}', _details(rt, name)
    )


def precondition_failed(rt: ResourceType, name: str, what: str, wanted: str, actual: str) -> ConflictError:
    msg = f"Precondition failed: {what} in precondition: {wanted}, {what} in object meta: {actual}"
    return ConflictError(409, "Conflict", msg, _details(rt, name))


def invalid(
    rt: ResourceType, name: str, field: str, detail: str, cause: str = "FieldValueInvalid"
) -> ApiError:
    group_kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    details = _details(rt, name, kind=rt.kind)
    details["causes"] = [{"reason": cause, "message": detail, "field": field}]
    return ApiError(422, "Invalid", f'{group_kind} "{name}" is invalid: {field}: {detail}', details)


def unprocessable(detail: str) -> ApiError:
    """422 as the server answers a JSON patch that cannot be applied (e.g. a failed ``test`` op)."""
    return ApiError(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
        {"causes": [{"reason": "FieldValueInvalid", "message": detail, "field": "patch"}]},
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def expired(message: str) -> ExpiredError:
    return ExpiredError(410, "Expired", message)


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def path_not_found() -> NotFoundError:
    return NotFoundError(404, "NotFound", "the server could not find the requested resource", {})


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format ({content_type or 'none'}) - accepted media types "
        "include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
    )


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", message, {"causes": [{"message": message}]})


def too_many_requests(message: str = "") -> ApiError:
    return ApiError(
        429,
        "TooManyRequests",
        message or "Too many requests, please try again later.",
        {"retryAfterSeconds": 1},
        {"Retry-After": "1"},
    )


def service_unavailable(message: str = "") -> ApiError:
    return ApiError(503, "ServiceUnavailable", message or "the server is currently unable to handle the request")


_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def reason_for(code: int) -> str:
    """The Status reason the server uses for an HTTP code (``Unknown`` otherwise)."""
    return _REASONS.get(code, "Unknown")


def error_for(code: int, reason: str, message: str) -> ApiError:
    """An error of the right class for the code (used by injected faults)."""
    cls = {404: NotFoundError, 409: ConflictError, 410: ExpiredError}.get(code, ApiError)
    return cls(code, reason or reason_for(code), message or f"injected fault ({code})")
