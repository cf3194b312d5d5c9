"""Structured JSON logging on the standard library only.

``get_logger(name)`` returns a plain ``logging.Logger`` under ``podnet``. ``bind(pod="ns/name",
step="allocate", request_id=...)`` adds fields to every record logged inside the ``with`` block (a
contextvar, so threads and nested binds do not leak into each other). Per-call fields go in
``extra=fields(eni="eni-1")``. ``configure()`` installs the JSON formatter on stdout once; FC ships
stdout to SLS. Without ``configure()`` records propagate to the root logger as usual (pytest's
caplog still sees them).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any, TextIO

__all__ = ["get_logger", "bind", "bound", "fields", "configure", "unconfigure", "JsonFormatter"]

_BOUND: ContextVar[dict[str, Any] | None] = ContextVar("podnet_log_fields", default=None)
_EXTRA_KEY = "podnet_fields"


def get_logger(name: str) -> logging.Logger:
    """A logger named ``podnet.<name>`` (or ``name`` when it already starts with ``podnet``)."""
    return logging.getLogger(name if name.startswith("podnet") else f"podnet.{name}")


@contextmanager
def bind(**kv: Any) -> Iterator[dict[str, Any]]:
    """Add fields (pod key, step, request id, ...) to every record logged inside the block."""
    merged = {**(_BOUND.get() or {}), **{k: v for k, v in kv.items() if v is not None}}
    token = _BOUND.set(merged)
    try:
        yield merged
    finally:
        _BOUND.reset(token)


def bound() -> dict[str, Any]:
    """The fields bound in the current context."""
    return dict(_BOUND.get() or {})


def fields(**kv: Any) -> dict[str, Any]:
    """Per-record fields: ``log.info("created", extra=fields(eni=eni_id))``."""
    return {_EXTRA_KEY: kv}


class _BindFilter(logging.Filter):
    """Snapshot the bound fields when the record is made (before any handler thread sees it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "podnet_bound"):
            record.podnet_bound = _BOUND.get() or {}
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, bound fields, per-record fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(getattr(record, "podnet_bound", None) or _BOUND.get() or {})
        out.update(getattr(record, _EXTRA_KEY, None) or {})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


_configured = False


def configure(level: str | int | None = None, stream: TextIO | None = None) -> logging.Logger:
    """Send ``podnet.*`` logs as JSON lines to stdout (idempotent). Level from ``PODNET_LOG_LEVEL``."""
    global _configured
    root = logging.getLogger("podnet")
    lvl = level or os.environ.get("PODNET_LOG_LEVEL") or os.environ.get("LOG_LEVEL") or "INFO"
    root.setLevel(lvl.upper() if isinstance(lvl, str) else lvl)
    if not _configured or stream is not None:
        for h in list(root.handlers):
            if getattr(h, "podnet_json", False):
                root.removeHandler(h)
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(JsonFormatter())
        handler.addFilter(_BindFilter())
        handler.podnet_json = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.propagate = False  # FC's root handler would print the line a second time
        _configured = True
    return root


def unconfigure() -> None:
    """Undo ``configure()``: remove the JSON handler and let records propagate again (tests)."""
    global _configured
    root = logging.getLogger("podnet")
    for h in list(root.handlers):
        if getattr(h, "podnet_json", False):
            root.removeHandler(h)
    root.propagate = True
    root.setLevel(logging.NOTSET)
    _configured = False
