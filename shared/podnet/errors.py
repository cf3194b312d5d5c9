"""The project's error taxonomy (after kopf and Terway): retryable vs permanent, plus service errors.

Only adapters turn vendor errors into these; steps decide on ``RetryableError`` vs ``PermanentError``.
"""

from __future__ import annotations


class PodnetError(Exception):
    """Base of every error this project raises on purpose."""


class RetryableError(PodnetError):
    """Trying again later may succeed (throttling, timeouts, conflicts, not-yet-ready)."""

    def __init__(self, message: str, delay_s: float = 5.0, code: str = "") -> None:
        super().__init__(message)
        self.delay_s = delay_s
        self.code = code


class PermanentError(PodnetError):
    """Retrying cannot help (invalid input, missing configuration)."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


# --- Kubernetes API -------------------------------------------------------------------------------
class KubeError(PodnetError):
    """An error answer from the Kubernetes API server."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class NotFound(KubeError):
    """404: the object does not exist."""


class Conflict(KubeError):
    """409: AlreadyExists on create, or a stale resourceVersion on update."""


class Gone(KubeError):
    """410: the requested resourceVersion is older than the server's history (relist)."""


# --- Alibaba Cloud OpenAPI --------------------------------------------------------------------------
class CloudError(PodnetError):
    """An error answer from ECS/VPC, carrying the vendor's code verbatim."""

    def __init__(self, code: str, message: str = "", status: int = 0, request_id: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id


THROTTLING_CODES = frozenset({"Throttling", "Throttling.User", "Throttling.Api", "ServiceUnavailable"})
TRANSIENT_CODES = THROTTLING_CODES | {"InternalError", "Operation.Conflict", "IncorrectInstanceStatus", "IdempotentProcessing"}
IP_EXHAUSTED_CODES = frozenset({"InvalidVSwitchId.IpNotEnough", "QuotaExceeded.PrivateIpAddress"})
ENI_NOT_FOUND_CODES = frozenset({"InvalidEniId.NotFound", "InvalidNetworkInterfaceId.NotFound", "InvalidEcsId.NotFound"})


class CloudTransportError(PodnetError):
    """No answer from the cloud (connection refused/reset, timeout): the side effect may or may not have happened."""
