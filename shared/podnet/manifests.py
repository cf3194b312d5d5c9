"""Read Kubernetes manifests (YAML or JSON, multi-document, ``-`` = stdin) into (file, document) items.

YAML is read the way ``kubectl`` sees it after its YAML-to-JSON step: timestamps stay strings, and a
``kind: List`` (what ``kubectl get -o yaml`` prints) is expanded into its items. Syntax errors and
documents that are not Kubernetes objects raise ``ManifestError`` with the file and line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import yaml

from podnet.domain.validation import WORKLOAD_KINDS, pod_template_of
from podnet.errors import PodnetError

__all__ = [
    "STDIN",
    "ManifestError",
    "ManifestDoc",
    "load_text",
    "load_file",
    "load_manifests",
    "iter_kind",
    "iter_pod_networkings",
    "iter_pods",
    "iter_workloads",
    "pod_template_of",
]

STDIN = "-"
STDIN_NAME = "<stdin>"

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe YAML, with timestamps kept as strings (Kubernetes reads them as strings too)."""


_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),
)


class ManifestError(PodnetError):
    """Input that cannot be read: a missing file, a YAML/JSON syntax error, a document that is not an object."""

    def __init__(self, file: str, message: str, line: int | None = None, column: int | None = None) -> None:
        where = file
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {message}")
        self.file = file
        self.line = line
        self.column = column


@dataclass(frozen=True)
class ManifestDoc:
    """One Kubernetes object read from a file: where it came from (1-based document index and line)."""

    file: str
    index: int
    line: int
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        kind = self.doc.get("kind")
        return kind if isinstance(kind, str) else ""

    @property
    def name(self) -> str:
        meta = self.doc.get("metadata")
        return str(meta.get("name") or "") if isinstance(meta, dict) else ""


def _expand(file: str, index: int, line: int, doc: Any) -> Iterator[ManifestDoc]:
    if doc is None:  # an empty document (e.g. a trailing ---)
        return
    if not isinstance(doc, dict):
        raise ManifestError(file, f"document {index} is not a Kubernetes object but a {type(doc).__name__}", line)
    if not isinstance(doc.get("kind"), str) or not doc.get("kind"):
        raise ManifestError(file, f"document {index} has no kind", line)
    if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            yield from _expand(file, index, line, item)
        return
    yield ManifestDoc(file=file, index=index, line=line, doc=doc)


def _load_json(file: str, text: str) -> list[ManifestDoc]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(file, f"JSON syntax error: {exc.msg}", exc.lineno, exc.colno) from None
    except (ValueError, RecursionError) as exc:
        raise ManifestError(file, f"JSON error: {exc}") from None
    return list(_expand(file, 1, 1, data))


def _load_yaml(file: str, text: str) -> list[ManifestDoc]:
    docs: list[ManifestDoc] = []
    loader = _Loader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            index += 1
            line = node.start_mark.line + 1 if node is not None else 1
            data = loader.construct_document(node)
            docs.extend(_expand(file, index, line, data))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "syntax error"
        raise ManifestError(
            file,
            f"YAML syntax error: {problem}",
            mark.line + 1 if mark else None,
            mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise ManifestError(file, f"YAML error: {exc}") from None
    except RecursionError:
        raise ManifestError(file, "YAML error: nested too deeply") from None
    finally:
        loader.dispose()
    return docs


def load_text(text: str, file: str = STDIN_NAME) -> list[ManifestDoc]:
    """Parse manifest text; a ``.json`` file name selects JSON, anything else YAML (which reads JSON too)."""
    if file.endswith(".json"):
        return _load_json(file, text)
    return _load_yaml(file, text)


def load_file(path: str, stdin: IO[str] | None = None) -> list[ManifestDoc]:
    """Read one manifest file; ``-`` reads ``stdin`` (default ``sys.stdin``) and is named ``<stdin>``."""
    if path == STDIN:
        stream = stdin if stdin is not None else sys.stdin
        try:
            text = stream.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(STDIN_NAME, f"cannot read: {exc}") from None
        return load_text(text, STDIN_NAME)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ManifestError(path, "no such file") from None
    except IsADirectoryError:
        raise ManifestError(path, "is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise ManifestError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ManifestError(path, f"cannot read: {exc.strerror or exc}") from None
    return load_text(text, path)


def load_manifests(paths: Iterable[str], stdin: IO[str] | None = None) -> list[ManifestDoc]:
    """Read several files in order (``-`` = stdin, read at most once). Raises the first ``ManifestError``."""
    docs: list[ManifestDoc] = []
    for path in paths:
        docs.extend(load_file(path, stdin))
    return docs


def iter_kind(docs: Iterable[ManifestDoc], kind: str) -> Iterator[ManifestDoc]:
    """The documents of one kind."""
    return (d for d in docs if d.kind == kind)


def iter_pod_networkings(docs: Iterable[ManifestDoc]) -> Iterator[ManifestDoc]:
    """The PodNetworking documents."""
    return iter_kind(docs, "PodNetworking")


def iter_pods(docs: Iterable[ManifestDoc]) -> Iterator[ManifestDoc]:
    """The Pod documents."""
    return iter_kind(docs, "Pod")


def iter_workloads(docs: Iterable[ManifestDoc]) -> Iterator[tuple[ManifestDoc, dict[str, Any]]]:
    """(document, pod template) for each workload with a pod template (Deployment, StatefulSet, ...)."""
    for d in docs:
        if d.kind in WORKLOAD_KINDS:
            template = pod_template_of(d.doc)
            if template is not None:
                yield d, template
