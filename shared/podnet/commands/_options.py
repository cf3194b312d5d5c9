"""Options shared by the commands that connect to a real cluster (``podnet forwarder``, ``podnet run``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])


def cluster_options(fn: F) -> F:
    """--kubeconfig, --context, --namespace, --queue-prefix and --log-level, in that order."""
    for option in reversed(
        [
            click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None,
                         help="Kubeconfig to use; default: PODNET_KUBE_URL, the in-cluster service account, "
                              "KUBECONFIG or ~/.kube/config."),
            click.option("--context", "kube_context", default=None, help="Kubeconfig context."),
            click.option("--namespace", envvar="PODNET_FORWARDER_NAMESPACE", default="kube-system", show_default=True,
                         help="Namespace of the forwarder's checkpoint ConfigMap (podnet-forwarder-state)."),
            click.option("--queue-prefix", envvar="PODNET_QUEUE_PREFIX", default="podnet", show_default=True,
                         help="MNS queues are <prefix>-<step> and <prefix>-dead-letter."),
            click.option("--log-level", envvar="PODNET_LOG_LEVEL", default="info", show_default=True),
        ]
    ):
        fn = option(fn)
    return fn
