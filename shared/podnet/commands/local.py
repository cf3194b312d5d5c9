"""``podnet local FILE...``: run the whole system on the embedded simulated cloud and API server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def _load(files: tuple[str, ...], platform: str = "ack") -> tuple[Any, list[tuple[str, Any]]]:
    """Read the input: one Scenario, or plain manifests (which get an invented cloud)."""
    from podnet.local.scenario import Scenario, ScenarioError, invent_cloud, load_scenario
    from podnet.manifests import ManifestError, load_manifests

    try:
        docs = load_manifests(files)
    except ManifestError as e:
        raise click.UsageError(str(e)) from None
    scenarios = [d for d in docs if d.kind == "Scenario"]
    if scenarios:
        if len(docs) != 1:
            raise click.UsageError(f"{scenarios[0].file}: a Scenario must be the only document of the input")
        d = scenarios[0]
        base = Path(".") if d.file == "<stdin>" else Path(d.file).parent
        try:
            return load_scenario(d.doc, base)
        except (ScenarioError, ManifestError) as e:
            raise click.UsageError(f"{d.file}: {e}") from None
    objects = [d.doc for d in docs]
    cloud, nodes = invent_cloud(objects)
    return Scenario(platform=platform, cloud=cloud, nodes=nodes), [("apply", objects)]


@click.command("local")
@click.argument("files", nargs=-1, required=True)
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--platform", type=click.Choice(["ack", "acs"]), default="ack", show_default=True,
              help="For plain manifests (a Scenario names its own platform).")
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
def local(files: tuple[str, ...], output: str, platform: str, quiet: bool) -> None:
    """Run the whole system in one process on the simulated cloud and Kubernetes API.

    FILES are plain manifests (PodNetworkings, Pods, StatefulSets, Deployments; '-' = stdin) or one
    Scenario (spec §6). Prints each PodNetworking's status, each Pod's interfaces and any rejections.
    """
    scenario, steps = _load(files, platform)
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
