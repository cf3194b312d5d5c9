"""Validation findings: one problem in one field of one object, with a stable reason code.

The one-line form (product spec section 2) is ``KIND NAMESPACE/NAME: FIELD: MESSAGE (CODE)``.
Cluster-scoped objects (PodNetworking) have an empty namespace and print as ``KIND NAME``, the way
``kubectl`` names them; a finding without a field path leaves the ``FIELD: `` part out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from podnet.errors import PermanentError

__all__ = [
    "Severity",
    "Finding",
    "ValidationFailed",
    "format_finding",
    "errors_of",
    "warnings_of",
    "has_errors",
]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One validation problem. ``namespace`` is empty for cluster-scoped objects."""

    severity: Severity
    code: str  # stable CamelCase reason code, e.g. DuplicateInterfaceName
    field: str  # path inside the object, e.g. spec.vSwitchOptions[2]
    message: str  # what is wrong and what to do about it
    kind: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def about(self, kind: str, namespace: str, name: str, field_prefix: str = "") -> Finding:
        """The same finding attributed to another object, with ``field_prefix`` put before the path."""
        return replace(self, kind=kind, namespace=namespace, name=name, field=field_prefix + self.field)

    def line(self) -> str:
        """The one-line form: ``KIND NAMESPACE/NAME: FIELD: MESSAGE (CODE)``."""
        return format_finding(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``namespace`` is None for cluster-scoped objects."""
        data = asdict(self)
        data["namespace"] = self.namespace or None
        return data


def _object_ref(kind: str, namespace: str, name: str) -> str:
    ref = f"{namespace}/{name}" if namespace else name
    return f"{kind} {ref}".strip()


def format_finding(finding: Finding, file: str | None = None) -> str:
    """Format a finding on one line; with ``file``, as ``FILE: KIND NAMESPACE/NAME: ...``; warnings start
    with ``warning: ``."""
    parts = []
    ref = _object_ref(finding.kind, finding.namespace, finding.name)
    if file is not None:
        parts.append(file)
    if ref:
        parts.append(ref)
    if finding.field:
        parts.append(finding.field)
    parts.append(f"{finding.message} ({finding.code})")
    text = ": ".join(parts)
    return f"warning: {text}" if finding.severity == "warning" else text


def errors_of(findings: Iterable[Finding]) -> list[Finding]:
    """Only the errors."""
    return [f for f in findings if f.severity == "error"]


def warnings_of(findings: Iterable[Finding]) -> list[Finding]:
    """Only the warnings."""
    return [f for f in findings if f.severity == "warning"]


def has_errors(findings: Iterable[Finding]) -> bool:
    """True when at least one finding is an error."""
    return any(f.severity == "error" for f in findings)


class ValidationFailed(PermanentError):
    """Input rejected; ``findings`` holds every problem found (errors, and any warnings next to them)."""

    def __init__(self, findings: Sequence[Finding], message: str | None = None) -> None:
        self.findings: list[Finding] = list(findings)
        errs = errors_of(self.findings)
        first = errs[0] if errs else (self.findings[0] if self.findings else None)
        if message is None:
            shown = errs or self.findings
            message = "; ".join(format_finding(f) for f in shown) if shown else "validation failed"
        super().__init__(message, code=first.code if first else "ValidationFailed")

    @property
    def errors(self) -> list[Finding]:
        return errors_of(self.findings)

    @property
    def warnings(self) -> list[Finding]:
        return warnings_of(self.findings)

    @property
    def codes(self) -> list[str]:
        """The reason codes of the errors, in order."""
        return [f.code for f in self.errors]
