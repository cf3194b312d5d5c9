"""``podnet webhook``: serve the admission webhook in the cluster (HTTPS), or plain HTTP for tests."""

from __future__ import annotations

import logging
import os

import click


@click.command("webhook")
@click.option("--port", type=int, default=8443, show_default=True, help="Port to listen on.")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate (chain).")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM private key.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None,
              help="Kubeconfig to read PodNetworkings/PodENIs with; default: PODNET_KUBE_URL, KUBECONFIG, "
                   "~/.kube/config or the in-cluster service account.")
@click.option("--system-user", envvar="PODNET_SYSTEM_USER", default=None,
              help="The control plane's own username; only it may write PodENIs and the system annotations. "
                   "[default: system:serviceaccount:kube-system:podnet]")
@click.option("--platform", type=click.Choice(["ack", "acs"]), envvar="PODNET_PLATFORM", default="ack",
              show_default=True)
@click.option("--max-interfaces", type=int, envvar="PODNET_MAX_INTERFACES", default=8, show_default=True)
def webhook(port: int, host: str, tls_cert: str | None, tls_key: str | None, kubeconfig: str | None,
            system_user: str | None, platform: str, max_interfaces: int) -> None:
    """Serve the admission webhook: POST /mutate (pods), POST /validate (podnetworkings, guard), GET /healthz."""
    from podnet.adapters.kube_http import HttpKube
    from podnet.admission import DEFAULT_SYSTEM_USER, AdmissionConfig
    from podnet.webhook import WebhookServer

    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        # short timeouts: the API server waits at most the webhook's timeoutSeconds for our answer
        if os.environ.get("PODNET_KUBE_URL") and not kubeconfig:
            kube = HttpKube.from_env(timeout_s=3.0)
        else:
            kube = HttpKube.from_kubeconfig(kubeconfig, timeout_s=3.0)
    except Exception as e:  # PodnetError, OSError, or kubernetes.config's own ConfigException
        raise click.ClickException(f"cannot build a Kubernetes client: {e}") from e
    config = AdmissionConfig(system_user=system_user or DEFAULT_SYSTEM_USER, platform=platform,
                             max_interfaces=max_interfaces)
    try:
        server = WebhookServer(kube, config=config, host=host, port=port, cert_file=tls_cert, key_file=tls_key)
    except (OSError, ValueError) as e:  # ssl.SSLError is an OSError: a bad cert/key pair, a busy port
        raise click.ClickException(str(e)) from e
    scheme = "https" if tls_cert else "http (no TLS: tests or behind a TLS proxy only)"
    click.echo(f"podnet webhook listening on {host}:{server.port} over {scheme}", err=True)
    server.serve_forever()
