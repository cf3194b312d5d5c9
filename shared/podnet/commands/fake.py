"""``podnet fake kube|cloud|mns --port N``: run one simulated service until interrupted."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("fake")
@click.argument("service", type=click.Choice(["kube", "cloud", "mns"]))
@click.option("--port", type=int, default=0, show_default=True, help="0 picks a free port.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--scenario", "scenario_file", type=click.Path(exists=True, dir_okay=False),
              help="cloud only: seed the region, vSwitches and nodes from a Scenario's cloud and nodes sections.")
def fake(service: str, port: int, host: str, scenario_file: str | None) -> None:
    """Run a stateful local stand-in that speaks the service's real wire protocol; prints its URL."""
    from podnet.clock import SystemClock

    if scenario_file and service != "cloud":
        raise click.UsageError("--scenario applies to the cloud fake only")
    if service == "kube":
        from podnet.fakes.kube.backend import KubeBackend
        from podnet.fakes.kube.server import FakeKubeServer

        server = FakeKubeServer(KubeBackend(clock=SystemClock()), host=host, port=port)
    elif service == "mns":
        from podnet.fakes.mns.backend import MNSBackend
        from podnet.fakes.mns.server import FakeMNSServer

        server = FakeMNSServer(MNSBackend(clock=SystemClock()), host=host, port=port)
    else:
        import yaml

        from podnet.fakes.cloud.backend import CloudBackend
        from podnet.fakes.cloud.server import FakeCloudServer

        backend = CloudBackend(clock=SystemClock())
        if scenario_file:
            try:
                doc = yaml.safe_load(Path(scenario_file).read_text()) or {}
            except yaml.YAMLError as e:
                raise click.UsageError(f"{scenario_file}: invalid YAML: {e}") from None
            if not isinstance(doc, dict) or doc.get("kind") != "Scenario":
                raise click.UsageError(f"{scenario_file}: not a Scenario (kind: Scenario)")
            cloud = doc.get("cloud") or {}
            backend = CloudBackend(clock=SystemClock(), region=cloud.get("region", "cn-hangzhou"))
            backend.seed_from_scenario(cloud, doc.get("nodes") or [])
        server = FakeCloudServer(backend, host=host, port=port)
    server.start()
    click.echo(server.url, nl=True)
    sys.stdout.flush()
    server.serve_forever()
