"""``podnet run``: the whole control plane against a real cluster and cloud, in one process.

For users who do not deploy to Function Compute: the watch-forwarder threads, one consumer thread per
step queue (the same ``process_message`` the FC handlers run) and the sweep on a timer. The queues are
still MNS, so ``podnet run`` and the FC functions can take turns on the same deployment.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading

import click

from podnet.commands._options import cluster_options


@click.command("run")
@cluster_options
@click.option("--sweep-period", default="1m", show_default=True, help="How often the sweep runs (90s, 1m, 1h).")
@click.option("--wait", "wait_s", type=click.IntRange(0, 30), default=10, show_default=True,
              help="Long-poll seconds per receive.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Consumer threads per step queue.")
@click.option("--forwarder/--no-forwarder", "with_forwarder", default=True, show_default=True,
              help="Run the watch-forwarder too (off when it runs as its own Deployment).")
@click.option("--once", is_flag=True,
              help="One pass: relist (SYNC every object), handle every visible message and what it enqueues, "
                   "sweep once, then exit. Delayed messages stay queued.")
def run(kubeconfig: str | None, kube_context: str | None, namespace: str, queue_prefix: str, sweep_period: str,
        wait_s: int, workers: int, with_forwarder: bool, once: bool, log_level: str) -> None:
    """Run the control plane in this process against a real cluster, ECS/VPC and MNS.

    Cloud and MNS settings come from the environment: PODNET_CLUSTER_ID, PODNET_REGION (or
    ALIBABA_CLOUD_REGION_ID), PODNET_MNS_ENDPOINT and the optional PODNET_* variables of
    podnet.adapters.config. Credentials: ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET(/SECURITY_TOKEN) when set, else
    the standard Alibaba Cloud credential chain (RRSA/OIDC, ~/.alibabacloud/credentials.ini, the ECS RAM
    role...), whose STS tokens are refreshed as they expire. Stops cleanly on SIGTERM/SIGINT.
    """
    from podnet.adapters.config import Settings, parse_duration
    from podnet.errors import PodnetError
    from podnet.forwarder import ConfigMapCheckpoint, Forwarder
    from podnet.log import configure, get_logger
    from podnet.runloop import Consumer, build_step_context, install_stop_signals, kube_client

    try:
        period = parse_duration(sweep_period)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--sweep-period") from None
    if period <= 0:
        raise click.BadParameter("must be positive", param_hint="--sweep-period")
    configure(log_level)
    logger = get_logger("run")
    try:
        settings = dataclasses.replace(Settings.from_env(), queue_prefix=queue_prefix, sweep_period_s=period)
        if not settings.cluster_id:
            raise PodnetError("PODNET_CLUSTER_ID must be set: it tags (and so owns) every ENI podnet creates")
        kube = kube_client(kubeconfig, kube_context)
        ctx = build_step_context(kube, settings=settings)
    except PodnetError as e:
        raise click.ClickException(str(e)) from e
    except Exception as e:  # kubernetes.config's ConfigException, unreadable files
        raise click.ClickException(f"cannot build the clients: {e}") from e

    queues = ctx.outbox.queues  # type: ignore[attr-defined]
    stop = threading.Event()
    consumer = Consumer(ctx, queues, wait_s=wait_s, sweep_period_s=None if once else period,
                        workers_per_queue=workers, stop=stop)
    fwd = Forwarder(kube, queues, checkpoint=ConfigMapCheckpoint(kube, namespace)) if with_forwarder else None

    if once:
        try:
            if fwd is not None:
                for res in fwd.resources:
                    fwd.relist(res)
            consumer.drain()
            consumer.sweep_once()
            consumer.drain()
        except PodnetError as e:
            raise click.ClickException(str(e)) from e
        summary = {"forwarded": fwd.sent if fwd else 0, **consumer.stats.as_dict()}
        click.echo(json.dumps(summary, sort_keys=True))
        return

    install_stop_signals(stop)
    if fwd is not None:
        fwd.start()
    consumer.start()
    logger.info("podnet run started: queues %s-<step>, sweep every %ss", queue_prefix, period)
    code = 0
    while not stop.wait(5.0):
        if not consumer.alive() or (fwd is not None and not fwd.alive()):
            logger.error("a worker thread died; exiting")
            code = 1
            break
    stop.set()
    if fwd is not None:
        fwd.stop()
        try:
            fwd.flush()
        except Exception as e:  # replayed from the checkpoint on the next start
            logger.warning("final flush failed (%s); the next start replays from the checkpoint", e)
    consumer.join(timeout=wait_s + 5.0)
    logger.info("podnet run stopped: %s", json.dumps(consumer.stats.as_dict()))
    sys.exit(code)
