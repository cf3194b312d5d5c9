"""Label and field selectors, parsed the way the API server parses them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_KEY_RE = re.compile(rf"^{_KEY}$")
_VALUE_RE = re.compile(rf"^{_VALUE}$")
_SET_RE = re.compile(rf"^(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_CMP_RE = re.compile(rf"^(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>.*)$")


@dataclass(frozen=True)
class Requirement:
    """One label requirement: ``key op values``."""

    key: str
    op: str  # "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "in":
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values  # notin


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses (``a in (x,y),b`` is two requirements)."""
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced parentheses in {text!r}")
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise ValueError(f"unbalanced parentheses in {text!r}")
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _check_value(value: str) -> str:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise ValueError(f"invalid label value: {value!r}")
    return value


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse ``a=b,c!=d,e in (x,y),f notin (z),g,!h``; raises ValueError like the server's 400."""
    if text is None or not text.strip():
        return []
    reqs: list[Requirement] = []
    for part in _split_top_level(text.strip()):
        if not part:
            raise ValueError(f"empty requirement in selector {text!r}")
        m = _SET_RE.match(part)
        if m:
            values = frozenset(_check_value(v.strip()) for v in m["values"].split(",") if v.strip())
            if not values:
                raise ValueError(f"{part!r}: for 'in', 'notin' operators, values set can't be empty")
            reqs.append(Requirement(m["key"], m["op"], values))
            continue
        m = _CMP_RE.match(part)
        if m:
            value = _check_value(m["value"].strip())
            reqs.append(Requirement(m["key"], "notin" if m["op"] == "!=" else "in", frozenset({value})))
            continue
        if part.startswith("!") and _KEY_RE.match(part[1:].strip()):
            reqs.append(Requirement(part[1:].strip(), "!exists"))
            continue
        if _KEY_RE.match(part):
            reqs.append(Requirement(part, "exists"))
            continue
        raise ValueError(f"unable to parse requirement: {part!r}")
    return reqs


def labels_match(reqs: list[Requirement], obj: dict[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(r.matches(labels) for r in reqs)


@dataclass(frozen=True)
class FieldRequirement:
    """One field requirement: ``path = value`` or ``path != value``."""

    path: str
    value: str
    negate: bool

    def matches(self, obj: dict[str, Any]) -> bool:
        return (field_value(obj, self.path) == self.value) != self.negate


def field_value(obj: dict[str, Any], path: str) -> str:
    """The string form of a dotted field (missing = ``""``, booleans as ``true``/``false``)."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return ""
        cur = cur[part]
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if isinstance(cur, dict):  # e.g. Event "source" is {component, host}: the server uses component
        return str(cur.get("component", ""))
    return str(cur)


def parse_field_selector(text: str | None, supported: Callable[[str], bool]) -> list[FieldRequirement]:
    """Parse ``metadata.name=x,spec.nodeName!=``; raises ValueError for bad syntax or unknown fields."""
    if text is None or not text.strip():
        return []
    out: list[FieldRequirement] = []
    for part in text.split(","):
        part = part.strip()
        op = next((o for o in ("!=", "==", "=") if o in part), None)
        if op is None:
            raise ValueError(f"invalid selector: '{part}'; can't understand '{part}'")
        path, _, value = part.partition(op)
        negate = op == "!="
        path = path.strip()
        if not supported(path):
            raise ValueError(f'field label not supported: {path}')
        out.append(FieldRequirement(path, value.strip(), negate))
    return out


def fields_match(reqs: list[FieldRequirement], obj: dict[str, Any]) -> bool:
    return all(r.matches(obj) for r in reqs)
