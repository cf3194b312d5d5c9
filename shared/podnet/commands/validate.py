"""``podnet validate FILE...``: offline check of manifests against the admission rules (spec section 6).

Output, one line per problem: ``FILE: KIND NAMESPACE/NAME: FIELD: MESSAGE (CODE)``, warnings prefixed
``warning: ``; cluster-scoped objects print as ``KIND NAME``; stdin is named ``<stdin>``. With
``--output json``: a list of ``{file, kind, namespace, name, field, code, message, severity}``
(``namespace`` null for cluster-scoped objects). Exit 0 = no errors, 1 = errors, 2 = unreadable input or
bad usage (reported on stderr).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from podnet.domain.findings import Finding, format_finding
from podnet.domain.validation import WORKLOAD_KINDS, validate_pod, validate_pod_networking, validate_workload
from podnet.manifests import ManifestDoc, ManifestError, load_file

__all__ = ["validate", "run_validate"]


def _object_key(d: ManifestDoc) -> tuple[str, str, str]:
    meta = d.doc.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    namespace = "" if d.kind == "PodNetworking" else str(meta.get("namespace") or "default")
    return d.kind, namespace, str(meta.get("name") or "")


def run_validate(
    files: list[str], network_files: list[str], platform: str = "ack"
) -> list[tuple[str, Finding]]:
    """Load and check the manifests; (file, finding) pairs in input order. Raises ``ManifestError``."""
    docs: list[ManifestDoc] = []
    for path in files:
        docs.extend(load_file(path))
    extra: list[ManifestDoc] = []
    for path in network_files:
        extra.extend(load_file(path))

    # PodNetworkings a pod may use: --networks first, so the checked files' own definitions win.
    networks: dict[str, dict[str, Any]] = {}
    for d in [*extra, *docs]:
        if d.kind == "PodNetworking" and d.name:
            networks[d.name] = d.doc

    results: list[tuple[str, Finding]] = []
    seen: dict[tuple[str, str, str], ManifestDoc] = {}
    for d in docs:
        key = _object_key(d)
        if d.kind in ("PodNetworking", "Pod") or d.kind in WORKLOAD_KINDS:
            first = seen.get(key)
            if first is not None and key[2] and first.doc != d.doc:
                # Applying both would silently keep the later one; say so (no reason code of its own).
                results.append(
                    (
                        d.file,
                        Finding(
                            severity="warning",
                            code="DuplicateObject",
                            field="metadata.name",
                            message=f"also defined at {first.file}:{first.line}; the later definition wins",
                            kind=key[0],
                            namespace=key[1],
                            name=key[2],
                        ),
                    )
                )
            seen.setdefault(key, d)
        if d.kind == "PodNetworking":
            findings = validate_pod_networking(d.doc, platform=platform)
        elif d.kind == "Pod":
            findings = validate_pod(d.doc, networks, platform=platform)
        elif d.kind in WORKLOAD_KINDS:
            findings = validate_workload(d.doc, networks, platform=platform)
        else:
            continue  # Services, ConfigMaps, ...: not ours to judge
        results.extend((d.file, f) for f in findings)
    return results


@click.command("validate")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--networks",
    "network_files",
    multiple=True,
    metavar="FILE",
    help="More PodNetworkings for the pods to refer to (not themselves checked). Repeatable.",
)
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--platform", type=click.Choice(["ack", "acs"]), default="ack", show_default=True)
def validate(files: tuple[str, ...], network_files: tuple[str, ...], output: str, platform: str) -> None:
    """Check PodNetworking, Pod and workload manifests (YAML/JSON, multi-document; - = stdin).

    A pod is checked against the PodNetworkings in the same input plus --networks files.
    Exit 0 = no errors, 1 = errors found, 2 = unreadable input or bad usage.
    """
    try:
        results = run_validate(list(files), list(network_files), platform)
    except ManifestError as exc:
        click.echo(f"podnet validate: error: {exc}", err=True)
        sys.exit(2)
    if output == "json":
        payload = [
            {
                "file": file,
                "kind": f.kind,
                "namespace": f.namespace or None,
                "name": f.name,
                "field": f.field,
                "code": f.code,
                "message": f.message,
                "severity": f.severity,
            }
            for file, f in results
        ]
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        for file, f in results:
            click.echo(format_finding(f, file=file))
    sys.exit(1 if any(f.severity == "error" for _, f in results) else 0)
