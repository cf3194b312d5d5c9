"""``podnet forwarder``: the in-cluster watch-forwarder (list+watch → one MNS queue per step)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import click

from podnet.commands._options import cluster_options


def _touch(path: str | None) -> None:
    """Refresh the liveness file (the Deployment's exec probe checks its age)."""
    if not path:
        return
    try:
        Path(path).touch()
    except OSError:
        pass  # a read-only filesystem must not take the forwarder down; the probe will say so


@click.command("forwarder")
@cluster_options
@click.option("--watch-timeout", type=click.IntRange(10, 3600), default=300, show_default=True,
              help="Seconds per watch request before it is renewed from the last resourceVersion.")
@click.option("--heartbeat-file", envvar="PODNET_HEARTBEAT_FILE", default=None,
              help="Touched every few seconds while every watch thread runs (for an exec liveness probe).")
def forwarder(kubeconfig: str | None, kube_context: str | None, namespace: str, queue_prefix: str,
              watch_timeout: int, heartbeat_file: str | None, log_level: str) -> None:
    """List+watch Pods, PodNetworkings and PodENIs and send one small message per change to the step queues.

    MNS comes from PODNET_MNS_ENDPOINT; credentials from ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET(/SECURITY_TOKEN)
    when set, else the standard Alibaba Cloud credential chain (RRSA/OIDC, ~/.alibabacloud/credentials.ini,
    the ECS RAM role...; STS tokens are refreshed as they expire). Progress is
    checkpointed in a ConfigMap after each send, so a restart resumes where it stopped (duplicates are
    possible, losses are not). Stops cleanly on SIGTERM; exits 1 when a watch thread dies.
    """
    from podnet.errors import PodnetError
    from podnet.forwarder import ConfigMapCheckpoint, Forwarder
    from podnet.log import configure, get_logger
    from podnet.runloop import install_stop_signals, kube_client, step_queues

    configure(log_level)
    logger = get_logger("forwarder")
    try:
        kube = kube_client(kubeconfig, kube_context)
        queues, _ = step_queues(queue_prefix)
    except (PodnetError, OSError) as e:
        raise click.ClickException(str(e)) from e
    except Exception as e:  # kubernetes.config's ConfigException and friends
        raise click.ClickException(f"cannot build a Kubernetes client: {e}") from e

    stop = threading.Event()
    install_stop_signals(stop)
    fwd = Forwarder(kube, queues, checkpoint=ConfigMapCheckpoint(kube, namespace), watch_timeout_s=watch_timeout)
    fwd.start()
    _touch(heartbeat_file)
    logger.info("forwarder started: queues %s-<step>, checkpoint %s/podnet-forwarder-state (pid %d)",
                queue_prefix, namespace, os.getpid())
    code = 0
    while not stop.wait(5.0):
        if not fwd.alive():
            logger.error("a forwarder thread died; exiting so the pod restarts")
            code = 1
            break
        _touch(heartbeat_file)
    fwd.stop()
    try:
        fwd.flush()  # what was watched but not yet sent; its resourceVersion is checkpointed only if sent
    except Exception as e:  # the restart replays from the checkpoint: nothing is lost
        logger.warning("final flush failed (%s); the next start replays from the checkpoint", e)
    fwd.join(timeout=2.0)
    logger.info("forwarder stopped after forwarding %d messages", fwd.sent)
    sys.stdout.flush()
    sys.exit(code)
