"""``podnet local FILE...``: run the whole system on the embedded simulated cloud and API server."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click


def _load(files: tuple[str, ...]) -> tuple[Any, list[tuple[str, Any]]]:
    """Read the input: one Scenario, or plain manifests (which get an invented cloud)."""
    import yaml

    from podnet.local.scenario import Scenario, invent_cloud, load_scenario

    docs: list[tuple[str, dict[str, Any]]] = []
    for f in files:
        try:
            text = sys.stdin.read() if f == "-" else Path(f).read_text()
        except OSError as e:
            raise click.UsageError(f"{f}: cannot read: {e.strerror}") from None
        try:
            loaded = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            raise click.UsageError(f"{f}{where}: invalid YAML: {getattr(e, 'problem', e)}") from None
        for d in loaded:
            if not isinstance(d, dict):
                raise click.UsageError(f"{f}: every document must be an object, got {type(d).__name__}")
            docs.append((f, d))
    scenarios = [(f, d) for f, d in docs if d.get("kind") == "Scenario"]
    if scenarios:
        if len(docs) != 1:
            raise click.UsageError("a Scenario must be the only document of the input")
        f, doc = scenarios[0]
        base = Path(".") if f == "-" else Path(f).parent
        try:
            return load_scenario(doc, base)
        except ValueError as e:
            raise click.UsageError(f"{f}: {e}") from None
    objects = [d for _, d in docs]
    for obj in objects:
        if obj.get("kind") == "List":
            objects.extend(i for i in obj.get("items") or [] if isinstance(i, dict))
    objects = [o for o in objects if o.get("kind") != "List"]
    cloud, nodes = invent_cloud(objects)
    return Scenario(cloud=cloud, nodes=nodes), [("apply", objects)]


@click.command("local")
@click.argument("files", nargs=-1, required=True)
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
def local(files: tuple[str, ...], output: str, quiet: bool) -> None:
    """Run the whole system in one process on the simulated cloud and Kubernetes API.

    FILES are plain manifests (PodNetworkings, Pods, StatefulSets, Deployments; '-' = stdin) or one
    Scenario (spec §6). Prints each PodNetworking's status, each Pod's interfaces and any rejections.
    """
    scenario, steps = _load(files)
    from podnet.local.report import render_text
    from podnet.local.runner import run_scenario

    def progress(line: str) -> None:
        if not quiet:
            click.echo(line, err=True)

    report, dead = run_scenario(scenario, steps, progress=progress)
    if output == "json":
        click.echo(json.dumps(report, indent=2, sort_keys=False))
        for d in dead:
            click.echo(f"dead letter: {d.get('reason', '')}", err=True)
    else:
        click.echo(render_text(report, dead), nl=False)
